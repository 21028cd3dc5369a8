from runner.cli.entry import main

main()
