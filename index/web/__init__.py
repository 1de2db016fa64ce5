"""Web sources: fetch feeds, sitemaps and pages over HTTP and turn them into articles."""
