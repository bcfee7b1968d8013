ALTER TABLE sales
    ADD CONSTRAINT sales_session_id_fkey FOREIGN KEY (session_id) REFERENCES register_sessions (id),
    ADD CONSTRAINT sales_register_id_fkey FOREIGN KEY (register_id) REFERENCES pos_registers (id);
ALTER TABLE sales DROP CONSTRAINT IF EXISTS sales_session_caja_fkey;
ALTER TABLE register_events
    ADD CONSTRAINT register_events_register_id_fkey FOREIGN KEY (register_id) REFERENCES pos_registers (id);
ALTER TABLE register_events DROP CONSTRAINT IF EXISTS register_events_caja_seq_fkey;
DROP INDEX IF EXISTS register_sessions_id_caja;
