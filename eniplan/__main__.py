from eniplan.cli import main

main()
