import CofferCLI

await CofferCommand.run(arguments: CofferCommand.normalized(CommandLine.arguments.dropFirst()))
