-- A sale's lines move into the sale's own row, as four arrays in the
-- order sold, under a CHECK that they add up to its total: the same rule
-- as the statement triggers it replaces (docs/architecture.md rule 17),
-- checked by a function with no query, per row, for whoever writes. Two
-- plpgsql triggers, each with a query over its statement's rows, cost a
-- third of the sale's statement; this check costs next to nothing.
-- `sale_lines` stays, as a view of the arrays, for every reader.
-- Run again, the migration finds its columns, rule and view in place.

ALTER TABLE sales
    ADD COLUMN IF NOT EXISTS line_products INTEGER[],
    ADD COLUMN IF NOT EXISTS line_names TEXT[],
    ADD COLUMN IF NOT EXISTS line_prices BIGINT[],
    ADD COLUMN IF NOT EXISTS line_quantities INTEGER[];

DROP TRIGGER IF EXISTS sale_lines_add_up ON sales;

-- The lines written so far, into their sales; then the table goes (its
-- triggers with it).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class
                WHERE relname = 'sale_lines' AND relkind = 'r'
                  AND relnamespace = 'public'::regnamespace) THEN
        UPDATE sales s
           SET line_products = l.products, line_names = l.names,
               line_prices = l.prices, line_quantities = l.quantities
          FROM (SELECT sale_id,
                       array_agg(product_id ORDER BY line_no) AS products,
                       array_agg(name ORDER BY line_no) AS names,
                       array_agg(unit_price ORDER BY line_no) AS prices,
                       array_agg(quantity ORDER BY line_no) AS quantities
                  FROM sale_lines GROUP BY sale_id) l
         WHERE l.sale_id = s.id;
        DROP TABLE sale_lines;
    END IF;
END $$;

DROP FUNCTION IF EXISTS sale_lines_add_up();

-- A sale with no line written (none should be) is its total as an amount.
UPDATE sales
   SET line_products = '{NULL}', line_names = '{Monto libre}',
       line_prices = ARRAY[total::bigint], line_quantities = '{1}'
 WHERE line_prices IS NULL;

ALTER TABLE sales
    ALTER COLUMN line_products SET NOT NULL,
    ALTER COLUMN line_names SET NOT NULL,
    ALTER COLUMN line_prices SET NOT NULL,
    ALTER COLUMN line_quantities SET NOT NULL;

-- 1 to 100 lines, each a name (1 to 60 characters, not blank), a price
-- (more than zero, at most a trillion) and a quantity (1 to 999), the
-- four arrays as long; their products add up to the total.
CREATE OR REPLACE FUNCTION sale_lines_add_up(
    total BIGINT, products INTEGER[], names TEXT[], prices BIGINT[], quantities INTEGER[]
) RETURNS BOOLEAN
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    lines INTEGER := cardinality(prices);
    sum NUMERIC := 0;
BEGIN
    IF lines IS NULL OR lines NOT BETWEEN 1 AND 100 OR cardinality(quantities) <> lines
       OR cardinality(names) <> lines OR cardinality(products) <> lines
       OR array_ndims(prices) <> 1 OR array_lower(prices, 1) <> 1
       OR array_lower(quantities, 1) <> 1 OR array_lower(names, 1) <> 1
       OR array_lower(products, 1) <> 1 THEN
        RETURN false;
    END IF;
    FOR i IN 1 .. lines LOOP
        IF prices[i] IS NULL OR prices[i] NOT BETWEEN 1 AND 1000000000000
           OR quantities[i] IS NULL OR quantities[i] NOT BETWEEN 1 AND 999
           OR names[i] IS NULL OR btrim(names[i]) = '' OR char_length(names[i]) > 60 THEN
            RETURN false;
        END IF;
        sum := sum + prices[i]::NUMERIC * quantities[i];
    END LOOP;
    RETURN sum = total;
END
$$;

ALTER TABLE sales DROP CONSTRAINT IF EXISTS sale_lines_add_up;
ALTER TABLE sales ADD CONSTRAINT sale_lines_add_up
    CHECK (sale_lines_add_up(total, line_products, line_names, line_prices, line_quantities));

-- Lines are as sold, and a sale's total never changes.
CREATE OR REPLACE FUNCTION sale_lines_as_sold() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.total IS DISTINCT FROM OLD.total
       OR NEW.line_products IS DISTINCT FROM OLD.line_products
       OR NEW.line_names IS DISTINCT FROM OLD.line_names
       OR NEW.line_prices IS DISTINCT FROM OLD.line_prices
       OR NEW.line_quantities IS DISTINCT FROM OLD.line_quantities THEN
        RAISE EXCEPTION 'a sale''s total and lines are kept as sold (sale %)', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'sale_lines_as_sold';
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS sale_lines_as_sold ON sales;
CREATE TRIGGER sale_lines_as_sold BEFORE UPDATE ON sales
    FOR EACH ROW EXECUTE FUNCTION sale_lines_as_sold();

-- Each line as a row, for the reports, the receipt and psql.
CREATE OR REPLACE VIEW sale_lines AS
SELECT s.id AS sale_id, l.line_no::SMALLINT AS line_no, l.product_id, l.name,
       l.unit_price, l.quantity, l.unit_price * l.quantity AS line_total
  FROM sales s
 CROSS JOIN LATERAL unnest(s.line_products, s.line_names, s.line_prices, s.line_quantities)
       WITH ORDINALITY AS l (product_id, name, unit_price, quantity, line_no);
