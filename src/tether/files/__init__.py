"""tether.files: files a project needs (downloads into data/)."""
