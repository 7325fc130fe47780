import json, sys
print(json.dumps({"score": 4.5, "metrics": {"argv1": sys.argv[1]}}))
