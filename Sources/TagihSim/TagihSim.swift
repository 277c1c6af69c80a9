// TagihSim: filled by its issue.
