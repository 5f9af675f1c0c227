CREATE DATABASE agenta_oss;
CREATE DATABASE supertokens_oss;
