"""Recognise and parse what a web source serves: feeds, sitemaps, HTML and text pages.

Pure functions over bytes and strings (no network, no files): the fetcher hands over a
body, ``detect`` says what it is, and ``feeds``, ``sitemaps`` and ``pages`` turn it into
listings (``Feed``, ``Sitemap``) or ``Article`` values (``charset`` decodes a page). A
body that cannot be used raises ``UnreadablePageError`` with the URL and the reason.
"""
