// TagihHTTP2: filled by its issue.
