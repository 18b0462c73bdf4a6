// identity: placeholder TU until the first identity sources land.
