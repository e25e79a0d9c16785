// Pure formatting helpers of the dashboard (no DOM), shared by the pages.

// "3/10 eta 00:09": the server sends eta as tqdm prints it ("00:09", "1:02:03"), or a number
// of seconds; an unknown eta ("?", null) is left out.
export function progressText(prog) {
  if (!prog) return "";
  let eta = "";
  if (typeof prog.eta === "number" && Number.isFinite(prog.eta)) eta = ` eta ${Math.round(prog.eta)}s`;
  else if (typeof prog.eta === "string" && prog.eta && prog.eta !== "?") eta = ` eta ${prog.eta}`;
  return `${prog.done}/${prog.total}${eta}`;
}
