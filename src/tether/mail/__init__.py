"""tether.mail: notifications sent by SMTP and replies read by IMAP (steering by mail)."""

CHART_CID = "metrics-chart@tether"
"""The Content-ID of the metrics chart inlined in HTML mail (``<img src="cid:...">``)."""

CHART_FILENAME = "metrics.png"
"""The chart's file name, inline or attached."""
