echo '{"score": 6}'
