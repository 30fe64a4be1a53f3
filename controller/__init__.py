"""The host side: farm and campaign files, scheduler, result store, reports."""
