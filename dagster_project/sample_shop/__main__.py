from dagster_project.sample_shop.cli import main

main()
