DROP TABLE dataset_versions;
DROP TABLE distributions;
DROP TABLE dataset_themes;
DROP TABLE dataset_keywords;
DROP TABLE datasets;
DROP TABLE licences;
