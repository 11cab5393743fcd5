from lightning_dqn.cli import main

main()
