-- Members, sessions, OpenID Connect. (Filled in by the members/OIDC work, issue 4.)
SELECT 1;
