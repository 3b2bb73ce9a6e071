from swsim.cli import main

main()
