"""Open311 GeoReport v2 under /open311/v2/: read the cases, file requests with an API key."""
