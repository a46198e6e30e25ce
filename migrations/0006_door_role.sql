-- Door staff: accounts that check tickets in at the venue and can do nothing
-- else (`boxoffice admin create --role door`). A stolen door-scanner login
-- must not be an operator login.
-- (Numbered 0009 to stay clear of migrations added alongside it.)
ALTER TABLE users DROP CONSTRAINT users_role_known;
ALTER TABLE users ADD CONSTRAINT users_role_known CHECK (role IN ('buyer', 'admin', 'door'));
