// TagihService: filled by its issue.
