import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, NoSchemaIntrospectionCustomRule, parse, specifiedRules, validate } from 'graphql';
import type { DocumentNode, GraphQLSchema, ValidationRule } from 'graphql';
import type { PortcullisConfig } from '../server/config/schema.js';

export type GraphQLLimits = PortcullisConfig['graphql'];

/**
 * The query limits (graphql-armor: depth, aliases, directives, cost, tokens), shared by
 * both transports. Apollo applies them on HTTP through plugins and validation rules;
 * graphql-ws has no such hook, so `validateOperation` runs the same rules for it:
 * a limit that only guards one door guards nothing.
 */
export interface GraphQLProtection {
  apollo: ReturnType<ApolloArmor['protect']>;
  validateOperation(query: string): { document: DocumentNode } | { errors: GraphQLError[] };
}

export function createProtection(schema: GraphQLSchema, limits: GraphQLLimits): GraphQLProtection {
  // Suggestions and introspection map the schema for whoever probes it: only on request.
  const hidden = !limits.introspection;
  const apollo = new ApolloArmor({
    maxDepth: { n: limits.maxDepth },
    maxAliases: { n: limits.maxAliases },
    maxDirectives: { n: limits.maxDirectives },
    // Counted by graphql's own parser (parseOptions on HTTP, parse() below on WebSocket):
    // armor's token plugin throws from a parse hook, which Apollo answers with a 500.
    maxTokens: { enabled: false },
    costLimit: { maxCost: limits.maxCost },
    blockFieldSuggestion: { enabled: hidden },
  }).protect();

  const rules: ValidationRule[] = [...specifiedRules, ...apollo.validationRules];
  if (hidden) rules.push(NoSchemaIntrospectionCustomRule);

  return {
    apollo,
    validateOperation(query) {
      let document: DocumentNode;
      try {
        document = parse(query, { maxTokens: limits.maxTokens });
      } catch (error) {
        return { errors: [error instanceof GraphQLError ? error : new GraphQLError('syntax error')] };
      }
      const errors = validate(schema, document, rules);
      if (errors.length === 0) return { document };
      return { errors: hidden ? errors.map(withoutSuggestions) : [...errors] };
    },
  };
}

/** "Did you mean ...?" hints map the schema for whoever probes it: dropped unless introspection is on. */
function withoutSuggestions(error: GraphQLError): GraphQLError {
  const message = error.message.replace(/ ?Did you mean .*$/s, '');
  return message === error.message ? error : new GraphQLError(message, { nodes: error.nodes, extensions: error.extensions });
}
