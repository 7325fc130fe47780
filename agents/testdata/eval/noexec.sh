echo '{"score": 4}'
