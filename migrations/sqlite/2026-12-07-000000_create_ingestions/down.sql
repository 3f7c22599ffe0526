DROP TABLE ingestions;
