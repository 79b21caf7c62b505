-- The operator's lateness (cbdialer_offer_lateness_seconds): when a claimed callback fell due. The claim moves
-- due_at to its lease's expiry, and waits for a slot or an agent move it again, so the claim from scheduled
-- keeps the due time it had here; a later claim of the same turn leaves it alone.
ALTER TABLE callbacks ADD COLUMN due_since timestamptz;
