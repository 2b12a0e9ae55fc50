import { GraphQLJSON } from 'graphql-scalars';
import { Field, GraphQLISODateTime, ObjectType } from 'type-graphql';
import type { ToolChangeRecord, ToolDefinitionSeen } from '../../server/stores/types.js';

@ObjectType({
  description:
    'One definition of a tool as the broker saw it: the fields that are pinned (name, title, description, inputSchema, outputSchema, annotations) and the SHA-256 of their canonical JSON.',
})
export class ToolDefinitionVersion {
  @Field(() => String, { description: 'SHA-256 (hex) of the canonical JSON of the pinned fields.' })
  hash!: string;

  @Field(() => GraphQLJSON, { nullable: true, description: 'The pinned fields; null when the definition was too long to keep whole (see definitionText).' })
  definition!: unknown;

  @Field(() => String, { description: 'The canonical JSON, cut at 16384 characters when longer (truncated).' })
  definitionText!: string;

  @Field(() => Boolean)
  truncated!: boolean;

  @Field(() => GraphQLISODateTime, { description: 'When the broker first saw it.' })
  seenAt!: Date;

  static from(seen: ToolDefinitionSeen): ToolDefinitionVersion {
    return Object.assign(new ToolDefinitionVersion(), {
      hash: seen.hash,
      definition: seen.truncated ? null : (JSON.parse(seen.definition) as unknown),
      definitionText: seen.definition,
      truncated: seen.truncated,
      seenAt: new Date(seen.at),
    });
  }
}

@ObjectType({ description: 'A tool whose definition changed after it was pinned: hidden from clients and refused (pin mode) until a reviewer accepts the new definition.' })
export class ToolChange {
  @Field(() => String)
  server!: string;

  @Field(() => String)
  tool!: string;

  @Field(() => ToolDefinitionVersion, { description: 'The definition pinned now (what clients were shown).' })
  pinned!: ToolDefinitionVersion;

  @Field(() => ToolDefinitionVersion, { description: 'The new definition the server lists; acceptToolChange takes its hash.' })
  changed!: ToolDefinitionVersion;

  static from(record: ToolChangeRecord): ToolChange {
    return Object.assign(new ToolChange(), { server: record.server, tool: record.tool, pinned: ToolDefinitionVersion.from(record.pinned), changed: ToolDefinitionVersion.from(record.seen) });
  }
}
