pytest_plugins = ["grader.labplugin"]
