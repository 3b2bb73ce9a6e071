from swsim.cli.main import main

main()
