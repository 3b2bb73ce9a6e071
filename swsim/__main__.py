from swsim.launch import main

main()
