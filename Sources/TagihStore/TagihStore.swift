// TagihStore: filled by its issue.
