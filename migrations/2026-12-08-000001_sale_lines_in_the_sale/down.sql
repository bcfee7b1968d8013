DROP VIEW IF EXISTS sale_lines;
CREATE TABLE sale_lines (
    sale_id    BIGINT NOT NULL REFERENCES sales (id),
    line_no    SMALLINT NOT NULL CHECK (line_no BETWEEN 1 AND 100),
    product_id INTEGER REFERENCES products (id),
    name       TEXT NOT NULL CHECK (btrim(name) <> '' AND char_length(name) <= 60),
    unit_price BIGINT NOT NULL CHECK (unit_price > 0 AND unit_price <= 1000000000000),
    quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    line_total BIGINT GENERATED ALWAYS AS (unit_price * quantity) STORED,
    PRIMARY KEY (sale_id, line_no)
);
CREATE INDEX sale_lines_product_idx ON sale_lines (product_id) WHERE product_id IS NOT NULL;
INSERT INTO sale_lines (sale_id, line_no, product_id, name, unit_price, quantity)
SELECT s.id, l.line_no, l.product_id, l.name, l.unit_price, l.quantity
  FROM sales s
 CROSS JOIN LATERAL unnest(s.line_products, s.line_names, s.line_prices, s.line_quantities)
       WITH ORDINALITY AS l (product_id, name, unit_price, quantity, line_no);
ALTER TABLE sales DROP CONSTRAINT sale_lines_add_up;
DROP FUNCTION sale_lines_add_up(BIGINT, INTEGER[], TEXT[], BIGINT[], INTEGER[]);
ALTER TABLE sales
    DROP COLUMN line_products, DROP COLUMN line_names,
    DROP COLUMN line_prices, DROP COLUMN line_quantities;
-- The statement triggers of 2026-12-07-000000_catalog_and_sale_lines come
-- back with that migration's up.sql, run again.
