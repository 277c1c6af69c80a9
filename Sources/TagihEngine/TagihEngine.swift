// TagihEngine: filled by its issue.
