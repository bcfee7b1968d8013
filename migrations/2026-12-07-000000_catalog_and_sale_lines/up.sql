-- What a venue sells: products in categories, each at a price in whole
-- pesos, offered on every caja or only on some. A product is archived, never
-- deleted (its sales name it); its prices are kept in product_prices, one
-- row from each change on, and a sale's lines keep the name and price they
-- were sold at.
CREATE TABLE IF NOT EXISTS product_categories (
    id          SERIAL PRIMARY KEY,
    name        TEXT NOT NULL CHECK (btrim(name) <> '' AND char_length(name) <= 40),
    sort_order  INTEGER NOT NULL DEFAULT 0 CHECK (sort_order BETWEEN 0 AND 9999),
    archived_at TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS product_categories_name_key
    ON product_categories (lower(name)) WHERE archived_at IS NULL;

CREATE TABLE IF NOT EXISTS products (
    id          SERIAL PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES product_categories (id),
    name        TEXT NOT NULL CHECK (btrim(name) <> '' AND char_length(name) <= 60),
    -- What its key on the POS says.
    short_name  TEXT NOT NULL CHECK (btrim(short_name) <> '' AND char_length(short_name) <= 16),
    price       BIGINT NOT NULL CHECK (price > 0 AND price <= 100000000),
    colour      TEXT NOT NULL CHECK (colour ~ '^#[0-9a-f]{6}$'),
    sort_order  INTEGER NOT NULL DEFAULT 0 CHECK (sort_order BETWEEN 0 AND 9999),
    -- Offered on every caja, or only on those in product_cajas.
    every_caja  BOOLEAN NOT NULL DEFAULT true,
    -- "Agotado": out of stock until a supervisor says otherwise.
    sold_out    BOOLEAN NOT NULL DEFAULT false,
    archived_at TIMESTAMPTZ,
    -- Moves with every change: an edit names the version it started from.
    version     INTEGER NOT NULL DEFAULT 1 CHECK (version > 0),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by  INTEGER REFERENCES users (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS products_name_in_category
    ON products (category_id, lower(name)) WHERE archived_at IS NULL;

CREATE TABLE IF NOT EXISTS product_cajas (
    product_id  INTEGER NOT NULL REFERENCES products (id),
    register_id INTEGER NOT NULL REFERENCES pos_registers (id),
    PRIMARY KEY (product_id, register_id)
);

-- Every price a product has had, from when.
CREATE TABLE IF NOT EXISTS product_prices (
    product_id INTEGER NOT NULL REFERENCES products (id),
    price      BIGINT NOT NULL CHECK (price > 0 AND price <= 100000000),
    valid_from TIMESTAMPTZ NOT NULL DEFAULT now(),
    set_by     INTEGER REFERENCES users (id),
    PRIMARY KEY (product_id, valid_from)
);

-- Since 2026-12-08-000001_sale_lines_in_the_sale a sale's lines live in
-- its own row (`sale_lines` is a view of them): run again after it, this
-- part has nothing left to do.
DO $lines$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name = 'sales'
                  AND column_name = 'line_prices') THEN
        RETURN;
    END IF;
    -- A sale's lines: what was sold, as it was sold. A line without a product
    -- is an amount typed by the cashier ("Monto libre").
    CREATE TABLE IF NOT EXISTS sale_lines (
        sale_id    BIGINT NOT NULL REFERENCES sales (id),
        line_no    SMALLINT NOT NULL CHECK (line_no BETWEEN 1 AND 100),
        product_id INTEGER REFERENCES products (id),
        name       TEXT NOT NULL CHECK (btrim(name) <> '' AND char_length(name) <= 60),
        unit_price BIGINT NOT NULL CHECK (unit_price > 0 AND unit_price <= 1000000000000),
        quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 999),
        line_total BIGINT GENERATED ALWAYS AS (unit_price * quantity) STORED,
        PRIMARY KEY (sale_id, line_no)
    );
    CREATE INDEX IF NOT EXISTS sale_lines_product_idx ON sale_lines (product_id) WHERE product_id IS NOT NULL;

    -- The sales recorded before lines existed were amounts: one line each.
    INSERT INTO sale_lines (sale_id, line_no, product_id, name, unit_price, quantity)
    SELECT s.id, 1, NULL, 'Monto libre', s.total, 1
      FROM sales s
     WHERE NOT EXISTS (SELECT 1 FROM sale_lines l WHERE l.sale_id = s.id);

    -- A sale's total is the sum of its lines, checked here for whoever writes:
    -- at the end of each statement that adds sales or lines (the hub writes a
    -- sale and its lines in one statement), for every sale it touched. Lines
    -- are as sold: never changed, never removed, and a sale's total never
    -- changes. The refusal reads as a check violation of `sale_lines_add_up`.
    CREATE OR REPLACE FUNCTION sale_lines_add_up() RETURNS trigger
    LANGUAGE plpgsql AS $f$
    DECLARE
        wrong BIGINT;
    BEGIN
        IF TG_TABLE_NAME = 'sales' THEN
            SELECT s.id INTO wrong FROM touched_sales s
             WHERE s.total IS DISTINCT FROM
                   (SELECT sum(l.line_total) FROM sale_lines l WHERE l.sale_id = s.id)
             LIMIT 1;
        ELSE
            SELECT s.id INTO wrong FROM sales s
             WHERE s.id IN (SELECT DISTINCT sale_id FROM touched_lines)
               AND s.total IS DISTINCT FROM
                   (SELECT sum(l.line_total) FROM sale_lines l WHERE l.sale_id = s.id)
             LIMIT 1;
        END IF;
        IF wrong IS NOT NULL THEN
            RAISE EXCEPTION 'the lines of sale % do not add up to its total', wrong
                USING ERRCODE = 'check_violation', CONSTRAINT = 'sale_lines_add_up';
        END IF;
        RETURN NULL;
    END
    $f$;

    CREATE OR REPLACE FUNCTION sale_lines_as_sold() RETURNS trigger
    LANGUAGE plpgsql AS $f$
    BEGIN
        IF TG_TABLE_NAME = 'sales' THEN
            IF NEW.total IS DISTINCT FROM OLD.total THEN
                RAISE EXCEPTION 'a sale''s total never changes (sale %)', OLD.id
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'sale_lines_as_sold';
            END IF;
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'a sale''s lines are kept as sold (sale %)', OLD.sale_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'sale_lines_as_sold';
    END
    $f$;

    DROP TRIGGER IF EXISTS sale_lines_add_up ON sales;
    CREATE TRIGGER sale_lines_add_up AFTER INSERT ON sales
        REFERENCING NEW TABLE AS touched_sales
        FOR EACH STATEMENT EXECUTE FUNCTION sale_lines_add_up();
    DROP TRIGGER IF EXISTS sale_lines_add_up ON sale_lines;
    CREATE TRIGGER sale_lines_add_up AFTER INSERT ON sale_lines
        REFERENCING NEW TABLE AS touched_lines
        FOR EACH STATEMENT EXECUTE FUNCTION sale_lines_add_up();
    -- No column list (UPDATE OF total): see one_open_session_per_cashier.
    DROP TRIGGER IF EXISTS sale_lines_as_sold ON sales;
    CREATE TRIGGER sale_lines_as_sold BEFORE UPDATE ON sales
        FOR EACH ROW EXECUTE FUNCTION sale_lines_as_sold();
    DROP TRIGGER IF EXISTS sale_lines_as_sold ON sale_lines;
    CREATE TRIGGER sale_lines_as_sold BEFORE UPDATE OR DELETE ON sale_lines
        FOR EACH ROW EXECUTE FUNCTION sale_lines_as_sold();
END $lines$;
