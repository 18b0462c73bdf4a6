-- Peering: peers, their keys, the audit log. (Filled in by the signed-HTTP work, issue 3.)
SELECT 1;
