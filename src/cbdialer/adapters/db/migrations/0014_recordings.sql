-- A caller's recording (docs/design.md section 14, issue 10 item 1): the name or reason a caller recorded in
-- the IVR, as the Asterisk-side path of the file without its extension (the dialplan plays it in preview; the
-- admin API serves it from CBDIALER_RECORDINGS_DIR). NULL: none was recorded.
ALTER TABLE callbacks ADD COLUMN recording text;
