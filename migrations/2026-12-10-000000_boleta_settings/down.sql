DROP TABLE boleta_settings;
