DROP TABLE tax_documents;
