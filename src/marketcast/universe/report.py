"""report.html placeholder (filled in below)."""
def write_report(path, result, constituents):
    from marketcast.io import atomic_write_text
    atomic_write_text(path, "<html></html>")
