"""swsim: simulate Linux software suspend (swsusp) image writing and restoring, page by page."""

__version__ = "0.1.0"
