print("olla")
