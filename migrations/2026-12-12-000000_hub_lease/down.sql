DROP TABLE hub_lease;
