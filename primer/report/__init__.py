"""The class report (`primer report <assignment>`): read the gradebook (class_data), draw the
figures (figures), write one HTML page (page), also served to the staff on the hub."""
