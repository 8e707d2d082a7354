-- Test only: API keys whose text the suites know.
INSERT INTO api_keys (name, key_hash, scopes, revoked_at) VALUES
    ('test-writer', encode(sha256('tsk_test_writer'), 'hex'),
     '{read,write}', NULL),
    ('test-reader', encode(sha256('tsk_test_reader'), 'hex'),
     '{read}', NULL),
    ('test-revoked', encode(sha256('tsk_test_revoked'), 'hex'),
     '{read,write}', now()),
    ('test-torevoke', encode(sha256('tsk_test_torevoke'), 'hex'),
     '{read,write}', NULL);
