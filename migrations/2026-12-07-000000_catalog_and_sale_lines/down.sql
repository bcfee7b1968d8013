DROP TRIGGER IF EXISTS sale_lines_as_sold ON sales;
DROP TRIGGER IF EXISTS sale_lines_add_up ON sales;
DROP TABLE IF EXISTS sale_lines;
DROP FUNCTION IF EXISTS sale_lines_as_sold();
DROP FUNCTION IF EXISTS sale_lines_add_up();
DROP TABLE IF EXISTS product_prices;
DROP TABLE IF EXISTS product_cajas;
DROP TABLE IF EXISTS products;
DROP TABLE IF EXISTS product_categories;
