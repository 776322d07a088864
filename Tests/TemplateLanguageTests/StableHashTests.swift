import Testing
@testable import TemplateLanguage

@Suite struct StableHashTests {
    /// Outputs of Azure's uniqueString() published beside an independent reimplementation that checks
    /// itself against Bicep. (One more published value, said to come from a real deployment, does not
    /// match; see docs/status.md.)
    @Test(arguments: [
        (["test"], "rbgf3xv4ufgzg"),
        (["hello", "world"], "a7wkljktk6wne"),
        (["abc"], "cgtzqvhu4i23s"),
        (["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"], "bmg7c6xu4tw46"),
        (["foo", "bar", "baz"], "xzi4ioaxtmth4"),
    ])
    func uniqueStringMatchesAzure(_ parts: [String], _ expected: String) {
        #expect(StableHashes.uniqueString(parts) == expected)
    }

    /// guid() is uuid5(ARM namespace, joined arguments): values from Python's uuid.uuid5.
    @Test(arguments: [
        (["a"], "3703365d-5a9f-59b4-bca7-b9681389e4c1"),
        (["a", "b", "c"], "a98fa280-e03f-5afa-8d8e-92d0a9c201e8"),
        (["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"], "bb733f78-f75f-5345-b2b1-ca384ca6fcab"),
        (["hello", "world"], "a5b868f8-11fe-567a-ace0-e77cc87f104e"),
    ])
    func guidMatchesUUIDv5(_ parts: [String], _ expected: String) {
        #expect(StableHashes.guid(parts) == expected)
    }
}
