// mentorapi's GraphiQL page: everything it loads comes from this server (no CDN).
// URL parameters pre-fill the editors, so a query can be shared as a link:
//   /graphql?q=...&variables=...&headers={"Authorization":"Bearer mk_..."}
// (`q`, not `query`: GET /graphql?query=... executes the query and answers JSON instead.)
(function () {
  "use strict";

  var DEFAULT_QUERY = [
    "# mentorapi GraphQL. Put your API key in the Headers tab below:",
    '#   {"Authorization": "Bearer mk_..."}',
    "# Run with Ctrl-Enter.",
    "",
    "query Mentors {",
    "  mentors(first: 10) {",
    "    edges {",
    "      node {",
    "        id",
    "        name",
    "        headline",
    "        skills { skill { name } level note }",
    "        stats { sessionsCompleted averageRating }",
    "      }",
    "    }",
    "    pageInfo { hasNextPage endCursor }",
    "  }",
    "}",
    "",
  ].join("\n");

  var parameters = new URLSearchParams(window.location.search);
  var fetchURL = window.location.href.split("?")[0].split("#")[0];

  function updateURL(key, value) {
    if (value) {
      parameters.set(key, value);
    } else {
      parameters.delete(key);
    }
    var search = parameters.toString();
    history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  var fetcher = GraphiQL.createFetcher({ url: fetchURL });

  function App() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      query: parameters.get("q") || undefined,
      variables: parameters.get("variables") || undefined,
      headers: parameters.get("headers") || undefined,
      onEditQuery: function (value) {
        updateURL("q", value);
      },
      onEditVariables: function (value) {
        updateURL("variables", value);
      },
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
