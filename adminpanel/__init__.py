"""The staff panel and the public privacy FAQ."""
