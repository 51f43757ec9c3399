"""The portal: server-rendered HTML pages over the same desk functions as the API."""
