from valhalla_cli.app import main

main()
